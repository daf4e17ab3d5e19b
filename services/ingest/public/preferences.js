/* crm-engine dashboard: the preferences form. Reorders channels, and saves through the
   preferences API (POST /dashboard/api/crm/preferences, JSON), showing its problems next to the
   fields. Data is written with textContent only, never as markup. */
(function () {
  'use strict';

  var form = document.getElementById('preferences-form');
  if (!form) return;
  var list = document.getElementById('channel-order');
  var statusRegion = document.getElementById('save-status');
  var alertRegion = document.getElementById('form-alert');
  var announce = document.getElementById('order-announce');
  var saveButton = document.getElementById('save');
  var channelNames = { email: 'Email', whatsapp: 'WhatsApp', sms: 'SMS' };
  var defaulted = ['channels', 'timezone', 'quietHours'];

  function container(field) {
    return form.querySelector('[data-field="' + field + '"]');
  }

  function useDefaultBox(field) {
    return form.querySelector('[data-use-default="' + field + '"]');
  }

  /** Editing a field means it no longer follows the configured default. */
  defaulted.forEach(function (field) {
    var box = container(field);
    if (!box) return;
    var edited = function (event) {
      if (event.target.hasAttribute('data-use-default')) return;
      var check = useDefaultBox(field);
      if (check) check.checked = false;
    };
    box.addEventListener('input', edited);
    box.addEventListener('change', edited);
  });

  // --- channel order ------------------------------------------------------------------------

  function refreshMoves() {
    var items = list.querySelectorAll('li');
    items.forEach(function (item, index) {
      item.querySelector('[data-move="up"]').setAttribute('aria-disabled', index === 0 ? 'true' : 'false');
      item.querySelector('[data-move="down"]').setAttribute('aria-disabled', index === items.length - 1 ? 'true' : 'false');
    });
  }

  list.addEventListener('click', function (event) {
    var button = event.target.closest('button[data-move]');
    if (!button) return;
    var item = button.closest('li');
    var direction = button.getAttribute('data-move');
    var name = channelNames[item.getAttribute('data-channel')] || item.getAttribute('data-channel');
    if (direction === 'up' && item.previousElementSibling) {
      list.insertBefore(item, item.previousElementSibling);
    } else if (direction === 'down' && item.nextElementSibling) {
      list.insertBefore(item.nextElementSibling, item);
    } else {
      return;
    }
    refreshMoves();
    var position = Array.prototype.indexOf.call(list.children, item) + 1;
    announce.textContent = name + ' moved to position ' + position + ' of ' + list.children.length;
    useDefaultBox('channels').checked = false;
    button.focus();
  });

  // --- reading and writing the fields -------------------------------------------------------

  function checkedValues(name) {
    return Array.prototype.map.call(form.querySelectorAll('input[name="' + name + '"]:checked'), function (input) {
      return input.value;
    });
  }

  function body() {
    var start = form.elements['quietHours.start'].value;
    var end = form.elements['quietHours.end'].value;
    return {
      clientId: form.getAttribute('data-client-id'),
      channels: useDefaultBox('channels').checked ? null : checkedValues('channels'),
      timezone: useDefaultBox('timezone').checked ? null : form.elements.timezone.value.trim(),
      quietHours: useDefaultBox('quietHours').checked ? null : { start: start, end: end },
      optOuts: checkedValues('optOuts'),
      language: form.elements.language.value.trim(),
      batching: form.elements.batching.checked,
    };
  }

  /** The fields as the API answered them (contact details are not shown here unmasked, so left alone). */
  function fill(answer) {
    var order = answer.channels.concat(
      Array.prototype.map.call(list.children, function (item) {
        return item.getAttribute('data-channel');
      }).filter(function (channel) {
        return answer.channels.indexOf(channel) < 0;
      }),
    );
    order.forEach(function (channel) {
      var item = list.querySelector('li[data-channel="' + channel + '"]');
      if (!item) return;
      list.appendChild(item);
      item.querySelector('input[name="channels"]').checked = answer.channels.indexOf(channel) >= 0;
    });
    refreshMoves();
    form.elements.timezone.value = answer.timezone;
    form.elements['quietHours.start'].value = answer.quietHours ? answer.quietHours.start : '';
    form.elements['quietHours.end'].value = answer.quietHours ? answer.quietHours.end : '';
    form.querySelectorAll('input[name="optOuts"]').forEach(function (input) {
      input.checked = answer.optOuts.indexOf(input.value) >= 0;
    });
    form.elements.language.value = answer.language;
    form.elements.batching.checked = answer.batching;
    defaulted.forEach(function (field) {
      var isDefault = answer.defaults.indexOf(field) >= 0;
      useDefaultBox(field).checked = isDefault;
      var mark = form.querySelector('[data-default-mark="' + field + '"]');
      if (mark) mark.hidden = !isDefault;
    });
  }

  // --- errors -------------------------------------------------------------------------------

  function clearErrors() {
    form.querySelectorAll('.field-error').forEach(function (node) {
      node.remove();
    });
    form.querySelectorAll('[aria-invalid]').forEach(function (input) {
      input.removeAttribute('aria-invalid');
      var described = (input.getAttribute('aria-describedby') || '').split(' ').filter(function (id) {
        return id && !/-error$/.test(id);
      });
      if (described.length > 0) input.setAttribute('aria-describedby', described.join(' '));
      else input.removeAttribute('aria-describedby');
    });
    alertRegion.hidden = true;
    alertRegion.textContent = '';
  }

  function showAlert(message) {
    alertRegion.textContent = message;
    alertRegion.hidden = false;
  }

  /** The inputs an error of `path` (`quietHours.start`) is about, within its field's container. */
  function inputsOf(box, path) {
    var exact = box.querySelectorAll('input[name="' + path + '"]');
    if (exact.length > 0) return Array.prototype.slice.call(exact);
    return Array.prototype.filter.call(box.querySelectorAll('input'), function (input) {
      return input.type !== 'hidden' && !input.hasAttribute('data-use-default');
    });
  }

  /** Puts each problem next to its field; the ones of no field of this form go in the form's alert. */
  function showErrors(errors, fallback) {
    var byField = {};
    var order = [];
    var elsewhere = [];
    errors.forEach(function (error) {
      var path = String(error.field || '');
      var top = path.split('.')[0];
      var box = top ? container(top) : null;
      if (!box) {
        elsewhere.push(path && path !== 'body' ? path + ': ' + error.message : error.message);
        return;
      }
      if (!byField[top]) {
        byField[top] = { box: box, messages: [], inputs: [] };
        order.push(top);
      }
      byField[top].messages.push(error.message);
      inputsOf(box, path).forEach(function (input) {
        if (byField[top].inputs.indexOf(input) < 0) byField[top].inputs.push(input);
      });
    });
    var first = null;
    order.forEach(function (top) {
      var entry = byField[top];
      var id = top.replace(/[^A-Za-z0-9_-]/g, '-') + '-error';
      var message = document.createElement('p');
      message.className = 'field-error';
      message.id = id;
      message.textContent = entry.messages.join('; ');
      // Right under the field's inputs, before its "follow the default" choice.
      var slot = entry.box.querySelector('.use-default');
      if (slot) entry.box.insertBefore(message, slot);
      else entry.box.appendChild(message);
      entry.inputs.forEach(function (input) {
        input.setAttribute('aria-invalid', 'true');
        var described = (input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
        if (described.indexOf(id) < 0) described.unshift(id);
        input.setAttribute('aria-describedby', described.join(' '));
        if (!first) first = input;
      });
    });
    if (elsewhere.length > 0 || (order.length === 0 && fallback)) {
      showAlert(elsewhere.length > 0 ? 'Not saved: ' + elsewhere.join('; ') : fallback);
    }
    if (first) first.focus();
    else if (!alertRegion.hidden) alertRegion.focus();
  }

  // --- saving -------------------------------------------------------------------------------

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    clearErrors();
    statusRegion.classList.remove('bad');
    statusRegion.textContent = 'Saving…';
    saveButton.disabled = true;
    fetch(form.getAttribute('action'), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body()),
    })
      .then(function (response) {
        return response.text().then(function (text) {
          var answer = null;
          try {
            answer = text ? JSON.parse(text) : null;
          } catch {
            answer = null;
          }
          if (response.ok && answer) {
            fill(answer);
            statusRegion.classList.remove('bad');
            statusRegion.textContent = 'Saved';
            return;
          }
          statusRegion.classList.add('bad');
          statusRegion.textContent = 'Not saved';
          if (response.status === 401) {
            showAlert('Not saved: your login has ended. Log in again and repeat the change.');
            alertRegion.focus();
            return;
          }
          var errors = answer && Array.isArray(answer.errors) ? answer.errors : [];
          var fallback = 'Not saved: ' + ((answer && (answer.detail || answer.title)) || 'the server answered ' + response.status);
          showErrors(errors, fallback);
        });
      })
      .catch(function () {
        statusRegion.classList.add('bad');
        statusRegion.textContent = 'Not saved';
        showAlert('Not saved: the dashboard could not reach the server. Check the connection and save again.');
        alertRegion.focus();
      })
      .then(function () {
        saveButton.disabled = false;
      });
  });

  alertRegion.setAttribute('tabindex', '-1');
  refreshMoves();
})();
